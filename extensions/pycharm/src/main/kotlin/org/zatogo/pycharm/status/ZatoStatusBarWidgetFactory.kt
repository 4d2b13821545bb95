package org.zatogo.pycharm.status

import com.intellij.openapi.project.Project
import com.intellij.openapi.wm.StatusBarWidget
import com.intellij.openapi.wm.StatusBarWidgetFactory
import org.zatogo.pycharm.Zato

/** Registered in plugin.xml as `<statusBarWidgetFactory id="ZatoDeployStatus">`; the ids must match. */
class ZatoStatusBarWidgetFactory : StatusBarWidgetFactory {

    override fun getId(): String = Zato.WIDGET_ID

    override fun getDisplayName(): String = "Zato Deploy Status"

    override fun isAvailable(project: Project): Boolean = true

    override fun createWidget(project: Project): StatusBarWidget = ZatoStatusBarWidget(project)
}
