#!/usr/bin/env python3
"""Writes stubs of the IntelliJ Platform, LSP4IJ and LSP4J APIs that the plug-in uses, for stubcheck/run.sh.

The signatures were copied from the sources read while writing the plug-in (LSP4IJ's LanguageClientImpl,
LanguageServerFactory, LanguageServerManager, LanguageServerItem, OSProcessStreamConnectionProvider,
StreamConnectionProvider; the platform's StatusBarWidget, PasswordSafe/CredentialAttributes, ...), keeping
Java APIs in Java (platform types) and Kotlin APIs in Kotlin. They catch Kotlin mistakes (typos, nullability,
overrides, SAM conversions) without JetBrains' repositories; they cannot catch drift of the real APIs: that is
what the hosted CI's compile and verifyPlugin are for. Add a stub here when the plug-in starts using a new API.
"""
import os
import sys

JAVA = {
 "com.intellij.execution.configurations.GeneralCommandLine": "public class GeneralCommandLine { public enum ParentEnvironmentType { NONE, SYSTEM, CONSOLE } public GeneralCommandLine(@NotNull String... command) {} public @NotNull GeneralCommandLine withWorkDirectory(@Nullable String p) { return this; } public @NotNull GeneralCommandLine withParentEnvironmentType(@NotNull ParentEnvironmentType t) { return this; } }",
 "com.intellij.execution.configurations.PathEnvironmentVariableUtil": "public class PathEnvironmentVariableUtil { public static @Nullable java.io.File findInPath(@NotNull String name) { return null; } }",
 "com.intellij.execution.filters.TextConsoleBuilder": "public abstract class TextConsoleBuilder { public abstract @NotNull com.intellij.execution.ui.ConsoleView getConsole(); }",
 "com.intellij.execution.filters.TextConsoleBuilderFactory": "import com.intellij.openapi.project.Project;\npublic abstract class TextConsoleBuilderFactory { public static TextConsoleBuilderFactory getInstance() { return null; } public abstract @NotNull TextConsoleBuilder createBuilder(@NotNull Project p); }",
 "com.intellij.execution.ui.ConsoleView": "public interface ConsoleView extends com.intellij.openapi.Disposable { void print(@NotNull String text, @NotNull ConsoleViewContentType type); @NotNull javax.swing.JComponent getComponent(); }",
 "com.intellij.execution.ui.ConsoleViewContentType": "public class ConsoleViewContentType { public static final ConsoleViewContentType NORMAL_OUTPUT = null, ERROR_OUTPUT = null, SYSTEM_OUTPUT = null; }",
 "com.intellij.notification.Notification": "public class Notification { public void notify(@Nullable com.intellij.openapi.project.Project p) {} }",
 "com.intellij.notification.NotificationGroup": "public final class NotificationGroup { public @NotNull Notification createNotification(@NotNull String content, @NotNull NotificationType type) { return null; } }",
 "com.intellij.notification.NotificationGroupManager": "public interface NotificationGroupManager { static @NotNull NotificationGroupManager getInstance() { return null; } NotificationGroup getNotificationGroup(@NotNull String id); }",
 "com.intellij.notification.NotificationType": "public enum NotificationType { INFORMATION, WARNING, ERROR }",
 "com.intellij.openapi.Disposable": "public interface Disposable { void dispose(); }",
 "com.intellij.openapi.actionSystem.ActionUpdateThread": "public enum ActionUpdateThread { BGT, EDT }",
 "com.intellij.openapi.actionSystem.AnAction": "public abstract class AnAction { public AnAction() {} public void update(@NotNull AnActionEvent e) {} public abstract void actionPerformed(@NotNull AnActionEvent e); public @NotNull ActionUpdateThread getActionUpdateThread() { return ActionUpdateThread.BGT; } }",
 "com.intellij.openapi.actionSystem.AnActionEvent": "import com.intellij.openapi.project.Project;\npublic class AnActionEvent { public @Nullable Project getProject() { return null; } public @NotNull Presentation getPresentation() { return null; } public @Nullable <T> T getData(@NotNull DataKey<T> key) { return null; } }",
 "com.intellij.openapi.actionSystem.CommonDataKeys": "import com.intellij.openapi.vfs.VirtualFile;\npublic class CommonDataKeys { public static final DataKey<VirtualFile> VIRTUAL_FILE = null; public static final DataKey<VirtualFile[]> VIRTUAL_FILE_ARRAY = null; }",
 "com.intellij.openapi.actionSystem.DataKey": "public class DataKey<T> {}",
 "com.intellij.openapi.actionSystem.Presentation": "public class Presentation { public void setEnabledAndVisible(boolean b) {} public boolean isEnabledAndVisible() { return true; } }",
 "com.intellij.openapi.application.Application": "import java.util.concurrent.Future;\npublic interface Application { void invokeLater(@NotNull Runnable r); void invokeLater(@NotNull Runnable r, @NotNull ModalityState s); @NotNull Future<?> executeOnPooledThread(@NotNull Runnable r); }",
 "com.intellij.openapi.application.ApplicationManager": "public class ApplicationManager { public static Application getApplication() { return null; } }",
 "com.intellij.openapi.application.ModalityState": "public abstract class ModalityState { public static @NotNull ModalityState any() { return null; } }",
 "com.intellij.openapi.components.PersistentStateComponent": "public interface PersistentStateComponent<T> { @Nullable T getState(); void loadState(@NotNull T state); }",
 "com.intellij.openapi.components.State": "import java.lang.annotation.*;\n@Retention(RetentionPolicy.RUNTIME) @Target(ElementType.TYPE) public @interface State { String name(); Storage[] storages() default {}; }",
 "com.intellij.openapi.components.Storage": "import java.lang.annotation.*;\n@Retention(RetentionPolicy.RUNTIME) public @interface Storage { String value() default \"\"; }",
 "com.intellij.openapi.diagnostic.Logger": "public abstract class Logger { public static @NotNull Logger getInstance(@NotNull Class<?> c) { return null; } public abstract void warn(String m, @Nullable Throwable t); public abstract void info(String m); }",
 "com.intellij.openapi.editor.Document": "public interface Document {}",
 "com.intellij.openapi.fileEditor.FileDocumentManager": "import com.intellij.openapi.vfs.VirtualFile; import com.intellij.openapi.editor.Document;\npublic abstract class FileDocumentManager { public static @NotNull FileDocumentManager getInstance() { return null; } public abstract @Nullable Document getDocument(@NotNull VirtualFile f); public abstract @Nullable Document getCachedDocument(@NotNull VirtualFile f); public abstract boolean isDocumentUnsaved(@NotNull Document d); public abstract void saveDocument(@NotNull Document d); }",
 "com.intellij.openapi.fileEditor.FileEditorManager": "import com.intellij.openapi.project.Project; import com.intellij.openapi.vfs.VirtualFile;\npublic abstract class FileEditorManager { public static FileEditorManager getInstance(@NotNull Project project) { return null; } public abstract boolean isFileOpen(@NotNull VirtualFile file); public abstract @NotNull com.intellij.openapi.fileEditor.FileEditor[] openFile(@NotNull VirtualFile file, boolean focusEditor); }",
 "com.intellij.openapi.fileEditor.FileEditor": "public interface FileEditor {}",
 "com.intellij.openapi.options.Configurable": "import javax.swing.JComponent;\npublic interface Configurable { String getDisplayName(); @Nullable JComponent createComponent(); boolean isModified(); void apply() throws ConfigurationException; default void reset() {} default void disposeUIResources() {} }",
 "com.intellij.openapi.options.ConfigurationException": "public class ConfigurationException extends Exception { public ConfigurationException(String m) { super(m); } }",
 "com.intellij.openapi.project.DumbAware": "public interface DumbAware {}",
 "com.intellij.openapi.project.Project": "import com.intellij.util.messages.MessageBus;\npublic interface Project extends com.intellij.openapi.Disposable { @Nullable String getBasePath(); boolean isDisposed(); @NotNull MessageBus getMessageBus(); <T> T getService(@NotNull Class<T> c); @NotNull String getName(); }",
 "com.intellij.openapi.util.Disposer": "import com.intellij.openapi.Disposable;\npublic class Disposer { public static void register(@NotNull Disposable parent, @NotNull Disposable child) {} public static void dispose(@NotNull Disposable d) {} }",
 "com.intellij.openapi.util.SystemInfo": "public class SystemInfo { public static final boolean isWindows = false; }",
 "com.intellij.openapi.vfs.VirtualFile": "public abstract class VirtualFile { public abstract @NotNull String getName(); public @Nullable String getExtension() { return null; } public abstract boolean isDirectory(); }",
 "com.intellij.openapi.wm.StatusBar": "public interface StatusBar { void updateWidget(@NotNull String id); }",
 "com.intellij.openapi.wm.ToolWindow": "public interface ToolWindow { @NotNull com.intellij.openapi.Disposable getDisposable(); @NotNull com.intellij.ui.content.ContentManager getContentManager(); void show(@Nullable Runnable r); default void show() { show(null); } }",
 "com.intellij.openapi.wm.ToolWindowFactory": "import com.intellij.openapi.project.Project;\npublic interface ToolWindowFactory { void createToolWindowContent(@NotNull Project project, @NotNull ToolWindow toolWindow); default boolean shouldBeAvailable(@NotNull Project project) { return true; } }",
 "com.intellij.openapi.wm.ToolWindowManager": "import com.intellij.openapi.project.Project;\npublic abstract class ToolWindowManager { public static @NotNull ToolWindowManager getInstance(@NotNull Project p) { return null; } public abstract @Nullable ToolWindow getToolWindow(@Nullable String id); }",
 "com.intellij.psi.PsiDocumentManager": "import com.intellij.openapi.editor.Document; import com.intellij.openapi.project.Project;\npublic abstract class PsiDocumentManager { public static PsiDocumentManager getInstance(@NotNull Project project) { return null; } public abstract void commitDocument(@NotNull Document document); }",
 "com.intellij.ui.AnActionButton": "public abstract class AnActionButton {}",
 "com.intellij.ui.AnActionButtonRunnable": "public interface AnActionButtonRunnable { void run(AnActionButton button); }",
 "com.intellij.ui.ToolbarDecorator": "import javax.swing.*;\npublic abstract class ToolbarDecorator { public static @NotNull ToolbarDecorator createDecorator(@NotNull JTable t) { return null; } public ToolbarDecorator setAddAction(AnActionButtonRunnable r) { return this; } public ToolbarDecorator setRemoveAction(AnActionButtonRunnable r) { return this; } public JPanel createPanel() { return null; } }",
 "com.intellij.ui.components.JBCheckBox": "public class JBCheckBox extends javax.swing.JCheckBox { public JBCheckBox(@Nullable String t) { super(t); } }",
 "com.intellij.ui.components.JBLabel": "public class JBLabel extends javax.swing.JLabel { public JBLabel(@NotNull String t) { super(t); } }",
 "com.intellij.ui.components.JBScrollPane": "public class JBScrollPane extends javax.swing.JScrollPane { public JBScrollPane(java.awt.Component v) { super(v); } }",
 "com.intellij.ui.components.JBTextArea": "public class JBTextArea extends javax.swing.JTextArea { public JBTextArea(int r, int c) { super(r, c); } }",
 "com.intellij.ui.components.JBTextField": "public class JBTextField extends javax.swing.JTextField { public JBTextField() {} }",
 "com.intellij.ui.content.Content": "public interface Content {}",
 "com.intellij.ui.content.ContentFactory": "import javax.swing.JComponent;\npublic interface ContentFactory { static @NotNull ContentFactory getInstance() { return null; } @NotNull Content createContent(@Nullable JComponent c, @Nullable String name, boolean lockable); }",
 "com.intellij.ui.content.ContentManager": "public interface ContentManager { void addContent(@NotNull Content c); }",
 "com.intellij.ui.table.TableView": "public class TableView<Item> extends javax.swing.JTable { public TableView(com.intellij.util.ui.ListTableModel<Item> m) {} public @Nullable Item getSelectedObject() { return null; } }",
 "com.intellij.util.Consumer": "public interface Consumer<T> { void consume(T t); }",
 "com.intellij.util.messages.MessageBus": "public interface MessageBus { @NotNull <L> L syncPublisher(@NotNull Topic<L> topic); @NotNull MessageBusConnection connect(); @NotNull MessageBusConnection connect(@NotNull com.intellij.openapi.Disposable parent); }",
 "com.intellij.util.messages.MessageBusConnection": "public interface MessageBusConnection extends com.intellij.openapi.Disposable { <L> void subscribe(@NotNull Topic<L> topic, @NotNull L handler); void disconnect(); }",
 "com.intellij.util.messages.Topic": "public class Topic<L> { public Topic(@NotNull String displayName, @NotNull Class<L> listenerClass) {} }",
 "com.intellij.util.ui.ColumnInfo": "public abstract class ColumnInfo<Item, Aspect> { public ColumnInfo(String name) {} public abstract @Nullable Aspect valueOf(Item item); public boolean isCellEditable(Item item) { return false; } public void setValue(Item item, Aspect value) {} public Class<?> getColumnClass() { return String.class; } }",
 "com.intellij.util.ui.FormBuilder": "import javax.swing.*;\npublic class FormBuilder { public static FormBuilder createFormBuilder() { return null; } public FormBuilder addLabeledComponent(@NotNull String l, @NotNull JComponent c) { return this; } public FormBuilder addLabeledComponent(@NotNull String l, @NotNull JComponent c, boolean top) { return this; } public FormBuilder addComponent(@NotNull JComponent c) { return this; } public FormBuilder addSeparator() { return this; } public FormBuilder addComponentFillVertically(@NotNull JComponent c, int inset) { return this; } public JPanel getPanel() { return null; } }",
 "com.intellij.util.ui.ListTableModel": "import java.util.List;\npublic class ListTableModel<Item> extends javax.swing.table.AbstractTableModel { public ListTableModel(ColumnInfo... cs) {} public @NotNull List<Item> getItems() { return null; } public void setItems(@NotNull List<Item> items) {} public Item getItem(int i) { return null; } public void addRow(Item i) {} public void removeRow(int i) {} public int getRowCount() { return 0; } public int getColumnCount() { return 0; } public Object getValueAt(int r, int c) { return null; } }",
 "com.redhat.devtools.lsp4ij.LSPIJUtils": "public class LSPIJUtils { public static @NotNull String toUriAsString(@NotNull com.intellij.openapi.vfs.VirtualFile f) { return null; } }",
 "com.redhat.devtools.lsp4ij.LanguageServerFactory": "import com.intellij.openapi.project.Project; import com.redhat.devtools.lsp4ij.client.LanguageClientImpl; import com.redhat.devtools.lsp4ij.server.StreamConnectionProvider;\npublic interface LanguageServerFactory { @NotNull StreamConnectionProvider createConnectionProvider(@NotNull Project project); @NotNull default LanguageClientImpl createLanguageClient(@NotNull Project project) { return new LanguageClientImpl(project); } @NotNull default Class<? extends org.eclipse.lsp4j.services.LanguageServer> getServerInterface() { return org.eclipse.lsp4j.services.LanguageServer.class; } }",
 "com.redhat.devtools.lsp4ij.LanguageServerItem": "public class LanguageServerItem { public org.eclipse.lsp4j.services.LanguageServer getServer() { return null; } }",
 "com.redhat.devtools.lsp4ij.LanguageServerManager": "import com.intellij.openapi.project.Project; import java.util.concurrent.CompletableFuture;\npublic class LanguageServerManager { public static LanguageServerManager getInstance(@NotNull Project p) { return null; } public CompletableFuture<LanguageServerItem> getLanguageServer(@NotNull String id) { return null; } public void start(@NotNull String id) {} }",
 "com.redhat.devtools.lsp4ij.ServerStatus": "public enum ServerStatus { none, starting, started, stopping, stopped }",
 "com.redhat.devtools.lsp4ij.client.LanguageClientImpl": "import com.intellij.openapi.project.Project; import com.redhat.devtools.lsp4ij.ServerStatus; import org.eclipse.lsp4j.services.LanguageServer;\npublic class LanguageClientImpl implements com.intellij.openapi.Disposable { public LanguageClientImpl(Project project) {} public Project getProject() { return null; } protected final LanguageServer getLanguageServer() { return null; } protected Object findSettings(@Nullable String section) { return null; } @Nullable protected Object createSettings() { return null; } protected void triggerChangeConfiguration() {} public void showMessage(org.eclipse.lsp4j.MessageParams p) {} public void handleServerStatusChanged(@NotNull ServerStatus s) {} @Override public void dispose() {} public boolean isDisposed() { return false; } }",
 "com.redhat.devtools.lsp4ij.server.OSProcessStreamConnectionProvider": "import com.intellij.execution.configurations.GeneralCommandLine;\npublic class OSProcessStreamConnectionProvider implements StreamConnectionProvider { public OSProcessStreamConnectionProvider() {} public void setCommandLine(GeneralCommandLine c) {} public void start() {} public java.io.InputStream getInputStream() { return null; } public java.io.OutputStream getOutputStream() { return null; } public void stop() {} }",
 "com.redhat.devtools.lsp4ij.server.StreamConnectionProvider": "import com.intellij.openapi.vfs.VirtualFile;\npublic interface StreamConnectionProvider { void start(); java.io.InputStream getInputStream(); java.io.OutputStream getOutputStream(); default Object getInitializationOptions(VirtualFile rootUri) { return null; } void stop(); }",
 "org.eclipse.lsp4j.MessageParams": "public class MessageParams { public MessageType getType() { return null; } public String getMessage() { return null; } }",
 "org.eclipse.lsp4j.MessageType": "public enum MessageType { Error, Warning, Info, Log }",
 "com.redhat.devtools.lsp4ij.DocumentMatcher": "import com.intellij.openapi.project.Project; import com.intellij.openapi.vfs.VirtualFile;\npublic interface DocumentMatcher { boolean match(@NotNull VirtualFile file, @NotNull Project fileProject); }",
 "org.eclipse.lsp4j.ExecuteCommandParams": "import java.util.List;\npublic class ExecuteCommandParams { public ExecuteCommandParams(@NotNull String command, @NotNull List<Object> arguments) {} }",
 "org.eclipse.lsp4j.jsonrpc.services.JsonNotification": "import java.lang.annotation.*;\n@Retention(RetentionPolicy.RUNTIME) @Target(ElementType.METHOD) public @interface JsonNotification { String value() default \"\"; boolean useSegment() default true; }",
 "org.eclipse.lsp4j.jsonrpc.services.JsonRequest": "import java.lang.annotation.*;\n@Retention(RetentionPolicy.RUNTIME) @Target(ElementType.METHOD) public @interface JsonRequest { String value() default \"\"; boolean useSegment() default true; }",
 "com.intellij.openapi.ui.Messages": "import com.intellij.openapi.project.Project; import javax.swing.Icon;\npublic class Messages { public static final int YES = 0; public static int showYesNoDialog(@Nullable Project p, String message, @NotNull String title, @Nullable Icon icon) { return 0; } public static int showChooseDialog(@Nullable Project p, String message, @NotNull String title, @Nullable Icon icon, @NotNull String[] values, String initialValue) { return 0; } public static void showErrorDialog(@Nullable Project p, String message, @NotNull String title) {} public static void showInfoMessage(@Nullable Project p, String message, @NotNull String title) {} }",
 "com.intellij.testFramework.LightVirtualFile": "public class LightVirtualFile extends com.intellij.openapi.vfs.VirtualFile { public LightVirtualFile(@NotNull String name, @NotNull CharSequence content) {} public @NotNull String getName() { return \"\"; } public boolean isDirectory() { return false; } public void setWritable(boolean b) {} public boolean isWritable() { return true; } }",
 "org.eclipse.lsp4j.services.LanguageServer": "public interface LanguageServer { WorkspaceService getWorkspaceService(); }",
 "org.eclipse.lsp4j.services.WorkspaceService": "import java.util.concurrent.CompletableFuture; import org.eclipse.lsp4j.ExecuteCommandParams;\npublic interface WorkspaceService { default CompletableFuture<Object> executeCommand(ExecuteCommandParams p) { return null; } }"
}

KOTLIN = {
 "passwordsafe.kt": "package com.intellij.ide.passwordSafe\nimport com.intellij.credentialStore.CredentialAttributes\nimport com.intellij.credentialStore.Credentials\nabstract class PasswordSafe {\n    abstract fun get(attributes: CredentialAttributes): Credentials?\n    abstract fun set(attributes: CredentialAttributes, credentials: Credentials?)\n    companion object {\n        @JvmStatic\n        val instance: PasswordSafe get() = throw UnsupportedOperationException()\n    }\n}\n",
 "statusbar.kt": "package com.intellij.openapi.wm\nimport com.intellij.openapi.Disposable\nimport com.intellij.openapi.project.Project\nimport com.intellij.util.Consumer\nimport java.awt.event.MouseEvent\ninterface StatusBarWidget : Disposable {\n    fun ID(): String\n    fun getPresentation(): WidgetPresentation? = null\n    fun install(statusBar: StatusBar) {}\n    override fun dispose() {}\n    interface WidgetPresentation {\n        fun getTooltipText(): String?\n        fun getShortcutText(): String? = null\n        fun getClickConsumer(): Consumer<MouseEvent>? = null\n    }\n    interface TextPresentation : WidgetPresentation {\n        fun getText(): String\n        fun getAlignment(): Float\n    }\n}\ninterface StatusBarWidgetFactory {\n    fun getId(): String\n    fun getDisplayName(): String\n    fun isAvailable(project: Project): Boolean = true\n    fun createWidget(project: Project): StatusBarWidget\n}\n",
 "stubs.kt": "@file:JvmName(\"CredentialAttributesKt\")\npackage com.intellij.credentialStore\n\nclass CredentialAttributes(val serviceName: String, val userName: String? = null)\nclass Credentials(val userName: String?, private val pw: String?) {\n    fun getPasswordAsString(): String? = pw\n}\nfun generateServiceName(subsystem: String, key: String): String = \"IntelliJ Platform $subsystem \u2014 $key\"\n"
}


def main(dest):
    for fqcn, body in JAVA.items():
        pkg, cls = fqcn.rsplit(".", 1)
        d = os.path.join(dest, "java", *pkg.split("."))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, cls + ".java"), "w") as f:
            f.write("package %s;\nimport org.jetbrains.annotations.*;\n%s\n" % (pkg, body))
    d = os.path.join(dest, "kotlin")
    os.makedirs(d, exist_ok=True)
    for name, src in KOTLIN.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(src)


if __name__ == "__main__":
    main(sys.argv[1])
