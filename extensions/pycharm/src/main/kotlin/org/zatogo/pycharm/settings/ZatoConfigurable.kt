package org.zatogo.pycharm.settings

import com.intellij.openapi.application.ApplicationManager
import com.intellij.openapi.application.ModalityState
import com.intellij.openapi.options.Configurable
import com.intellij.openapi.options.ConfigurationException
import com.intellij.openapi.project.Project
import com.intellij.ui.ToolbarDecorator
import com.intellij.ui.components.JBLabel
import com.intellij.ui.components.JBScrollPane
import com.intellij.ui.components.JBTextField
import com.intellij.ui.table.TableView
import com.intellij.util.ui.ColumnInfo
import com.intellij.util.ui.FormBuilder
import com.intellij.util.ui.ListTableModel
import com.redhat.devtools.lsp4ij.LanguageServerManager
import org.zatogo.pycharm.Zato
import org.zatogo.pycharm.actions.ZatoCommands
import org.zatogo.pycharm.status.ZatoDeployStatusService
import java.awt.FlowLayout
import java.util.IdentityHashMap
import javax.swing.JButton
import javax.swing.JComboBox
import javax.swing.JComponent
import javax.swing.JPanel
import javax.swing.JPasswordField
import javax.swing.JTextArea
import javax.swing.event.DocumentEvent
import javax.swing.event.DocumentListener

/**
 * Settings | Languages & Frameworks | Zato (plugin.xml `<projectConfigurable parentId="language">`).
 *
 * Targets (name, URL, username, default) with each target's password kept in PasswordSafe; deploy on save;
 * include and exclude globs; the Zato marker rule; the path to the `zato` binary. Deploy on save and the marker
 * rule are Default / On / Off: Default sends nothing, so the project's `.zato.yaml` (or `ZATO_*` variables) and
 * the server's defaults apply, which any value sent from here would override. Applying pushes the new
 * configuration to `zato lsp` (`workspace/didChangeConfiguration`); changing the binary, or clearing every
 * setting, restarts the server. "Test Connection" applies, then sends `zato.testConnection`.
 */
class ZatoConfigurable(private val project: Project) : Configurable {

    /** A table row: an editable copy of a target, remembering where its password was stored. */
    private class Row(
        var name: String,
        var url: String,
        var username: String,
        var isDefault: Boolean,
        val storedName: String?,
        val storedUrl: String?,
    )

    private val zatoPath = JBTextField()
    /** A choice of a Default / On / Off combo box; [value] null is Default (the key is not sent). */
    private class Choice(val label: String, val value: Boolean?) {
        override fun toString(): String = label
    }

    private val deployOnSave = JComboBox(
        arrayOf(
            Choice("Default: .zato.yaml's value; if unset, on only when the project has a .zato.yaml", null),
            Choice("On", true),
            Choice("Off", false),
        ),
    )
    private val requireMarker = JComboBox(
        arrayOf(
            Choice("Default: .zato.yaml's value; if unset, off", null),
            Choice("On: only files carrying '# zato: ide-deploy=True'", true),
            Choice("Off: every matching file", false),
        ),
    )
    private val include = JTextArea(3, 50)
    private val exclude = JTextArea(3, 50)
    private val password = JPasswordField()
    private val testButton = JButton("Test Connection")
    private val testResult = JBLabel("")

    private val model = ListTableModel<Row>(
        TextColumn("Name", { it.name }, { row, v -> row.name = v }),
        TextColumn("URL", { it.url }, { row, v -> row.url = v }),
        TextColumn("Username", { it.username }, { row, v -> row.username = v }),
        DefaultColumn(),
    )
    private val table = TableView(model)

    /** Passwords typed in this dialog, per row; rows without an entry keep their stored password. */
    private val typedPasswords = IdentityHashMap<Row, String>()
    private var passwordRow: Row? = null
    private var loadingPassword = false
    private var panel: JPanel? = null

    override fun getDisplayName(): String = "Zato"

    override fun createComponent(): JComponent {
        val targets = ToolbarDecorator.createDecorator(table)
            .setAddAction {
                val row = Row(if (model.rowCount == 0) "default" else "", "http://127.0.0.1:17010", "admin", model.rowCount == 0, null, null)
                model.addRow(row)
                val index = model.rowCount - 1
                table.selectionModel.setSelectionInterval(index, index)
            }
            .setRemoveAction {
                stopEditing()
                val index = table.selectedRow
                if (index >= 0) {
                    val removed = model.getItem(index)
                    model.removeRow(index)
                    typedPasswords.remove(removed)
                    if (removed.isDefault && model.rowCount > 0) {
                        model.getItem(0).isDefault = true
                    }
                    model.fireTableDataChanged()
                }
            }
            .createPanel()

        table.selectionModel.addListSelectionListener { e ->
            if (!e.valueIsAdjusting) {
                loadPasswordOfSelectedRow()
            }
        }
        password.document.addDocumentListener(object : DocumentListener {
            override fun insertUpdate(e: DocumentEvent) = passwordTyped()
            override fun removeUpdate(e: DocumentEvent) = passwordTyped()
            override fun changedUpdate(e: DocumentEvent) = passwordTyped()
        })
        password.isEnabled = false
        testButton.addActionListener { testConnection() }

        val testRow = JPanel(FlowLayout(FlowLayout.LEFT, 0, 0))
        testRow.add(testButton)
        testRow.add(JBLabel("  "))
        testRow.add(testResult)

        val form = FormBuilder.createFormBuilder()
            .addLabeledComponent("Targets (the default one is used for deploy on save):", targets, true)
            .addLabeledComponent("Password of the selected target (kept in the IDE's password safe):", password)
            .addComponent(testRow)
            .addSeparator()
            .addComponent(JBLabel("Default and empty lists are not sent, so .zato.yaml and ZATO_* variables apply; a value set here overrides them."))
            .addLabeledComponent("Deploy Python files to Zato on save:", deployOnSave)
            .addLabeledComponent("Deploy on save only files with the Zato marker:", requireMarker)
            .addLabeledComponent("Include globs, one per line (empty: from .zato.yaml, else every .py file):", JBScrollPane(include), true)
            .addLabeledComponent(
                "Exclude globs, one per line (empty: from .zato.yaml, else tests, virtualenvs, site-packages, node_modules, dot-directories):",
                JBScrollPane(exclude),
                true,
            )
            .addSeparator()
            .addLabeledComponent("Path to the zato binary (empty: zato on PATH):", zatoPath)
            .addComponentFillVertically(JPanel(), 0)
            .panel
        panel = form
        reset()
        return form
    }

    override fun isModified(): Boolean {
        stopEditing()
        val state = ZatoSettings.getInstance(project).state
        if (zatoPath.text.trim() != state.zatoPath) return true
        if (selected(deployOnSave) != state.deployOnSave) return true
        if (selected(requireMarker) != state.requireMarker) return true
        if (lines(include.text) != state.include) return true
        if (lines(exclude.text) != state.exclude) return true
        if (typedPasswords.isNotEmpty()) return true
        val rows = model.items
        if (rows.size != state.targets.size) return true
        return rows.zip(state.targets).any { (row, t) ->
            row.name.trim() != t.name || row.url.trim() != t.url || row.username.trim() != t.username || row.isDefault != t.isDefault
        }
    }

    @Throws(ConfigurationException::class)
    override fun apply() {
        stopEditing()
        val rows = model.items
        val names = rows.map { it.name.trim() }
        if (names.any { it.isEmpty() }) throw ConfigurationException("Every target needs a name.")
        if (names.toSet().size != names.size) throw ConfigurationException("Target names must be unique.")
        if (rows.any { it.url.trim().isEmpty() }) throw ConfigurationException("Every target needs a URL.")
        if (rows.isNotEmpty() && rows.none { it.isDefault }) rows[0].isDefault = true

        val settings = ZatoSettings.getInstance(project)
        val state = settings.state
        val oldPath = state.zatoPath
        val wasEmpty = ZatoConfig.isEmpty(state)

        // Passwords: typed ones win; others move along when a target's name or URL changed.
        for (row in rows) {
            val name = row.name.trim()
            val url = row.url.trim()
            val typed = typedPasswords[row]
            val moved = row.storedName != null && row.storedUrl != null && (row.storedName != name || row.storedUrl != url)
            if (typed != null) {
                ZatoPasswords.set(name, url, row.username.trim(), typed)
            } else if (moved) {
                ZatoPasswords.set(name, url, row.username.trim(), ZatoPasswords.get(row.storedName!!, row.storedUrl!!))
            }
            if (moved) {
                ZatoPasswords.set(row.storedName!!, row.storedUrl!!, "", null)
            }
        }
        val kept = rows.mapNotNull { row -> row.storedName?.let { it to row.storedUrl } }.toSet()
        for (old in state.targets) {
            if ((old.name to old.url) !in kept) {
                ZatoPasswords.set(old.name, old.url, "", null)
            }
        }

        state.zatoPath = zatoPath.text.trim()
        state.deployOnSave = selected(deployOnSave)
        state.requireMarker = selected(requireMarker)
        state.include = lines(include.text).toMutableList()
        state.exclude = lines(exclude.text).toMutableList()
        state.targets = rows.map { ZatoSettings.Target(it.name.trim(), it.url.trim(), it.username.trim(), it.isDefault) }.toMutableList()

        // The rows now stand for what is stored.
        val selected = table.selectedRow
        loadRows(state)
        if (selected in 0 until model.rowCount) {
            table.selectionModel.setSelectionInterval(selected, selected)
        }

        project.messageBus.syncPublisher(ZatoSettingsListener.TOPIC).settingsChanged()
        if (oldPath != state.zatoPath || (!wasEmpty && ZatoConfig.isEmpty(state))) {
            // A different binary, or settings cleared to nothing (which `zato lsp` would not take from an empty
            // didChangeConfiguration): restart `zato lsp` (LanguageServerManager.start restarts a running server).
            LanguageServerManager.getInstance(project).start(Zato.SERVER_ID)
        }
    }

    override fun reset() {
        val state = ZatoSettings.getInstance(project).state
        zatoPath.text = state.zatoPath
        select(deployOnSave, state.deployOnSave)
        select(requireMarker, state.requireMarker)
        include.text = state.include.joinToString("\n")
        exclude.text = state.exclude.joinToString("\n")
        loadRows(state)
        testResult.text = ""
    }

    override fun disposeUIResources() {
        panel = null
        typedPasswords.clear()
        passwordRow = null
    }

    private fun loadRows(state: ZatoSettings.State) {
        typedPasswords.clear()
        passwordRow = null
        model.items = state.targets.map { Row(it.name, it.url, it.username, it.isDefault, it.name, it.url) }.toMutableList()
        loadPasswordOfSelectedRow()
    }

    private fun loadPasswordOfSelectedRow() {
        val row = table.selectedObject
        passwordRow = row
        loadingPassword = true
        try {
            password.isEnabled = row != null
            password.text = when {
                row == null -> ""
                typedPasswords.containsKey(row) -> typedPasswords[row]
                row.storedName != null && row.storedUrl != null -> ZatoPasswords.get(row.storedName, row.storedUrl) ?: ""
                else -> ""
            }
        } finally {
            loadingPassword = false
        }
    }

    private fun passwordTyped() {
        if (loadingPassword) return
        val row = passwordRow ?: return
        typedPasswords[row] = String(password.password)
    }

    private fun testConnection() {
        try {
            if (isModified()) apply()
        } catch (e: ConfigurationException) {
            testResult.text = e.message ?: "Invalid settings"
            return
        }
        testResult.text = "Testing…"
        ApplicationManager.getApplication().executeOnPooledThread {
            // Send the applied configuration first, from this thread, then the test.
            ZatoDeployStatusService.getInstance(project).client?.pushSettings()
            ZatoCommands.testConnection(project).whenComplete { result, error ->
                val text = if (error != null) "Failed: " + ZatoCommands.describeError(error) else ZatoCommands.describe(result)
                ApplicationManager.getApplication().invokeLater({ testResult.text = text }, ModalityState.any())
            }
        }
    }

    private fun stopEditing() {
        if (table.isEditing) {
            table.cellEditor?.stopCellEditing()
        }
    }

    private fun selected(combo: JComboBox<Choice>): Boolean? = (combo.selectedItem as? Choice)?.value

    private fun select(combo: JComboBox<Choice>, value: Boolean?) {
        for (i in 0 until combo.itemCount) {
            if (combo.getItemAt(i).value == value) {
                combo.selectedIndex = i
                return
            }
        }
    }

    private fun lines(text: String): List<String> = text.lines().map { it.trim() }.filter { it.isNotEmpty() }

    private class TextColumn(
        name: String,
        private val getter: (Row) -> String,
        private val setter: (Row, String) -> Unit,
    ) : ColumnInfo<Row, String>(name) {
        override fun valueOf(item: Row?): String? = item?.let(getter)
        override fun isCellEditable(item: Row?): Boolean = true
        override fun setValue(item: Row?, value: String?) {
            if (item != null) setter(item, value ?: "")
        }
    }

    private inner class DefaultColumn : ColumnInfo<Row, Boolean>("Default") {
        override fun valueOf(item: Row?): Boolean? = item?.isDefault
        override fun isCellEditable(item: Row?): Boolean = true
        override fun getColumnClass(): Class<*> = Boolean::class.javaObjectType
        override fun setValue(item: Row?, value: Boolean?) {
            if (item == null || value != true) return
            for (row in model.items) {
                row.isDefault = row === item
            }
            model.fireTableDataChanged()
        }
    }
}
