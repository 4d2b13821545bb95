package org.zatogo.pycharm.lsp

import com.intellij.openapi.project.Project
import com.redhat.devtools.lsp4ij.LanguageServerFactory
import com.redhat.devtools.lsp4ij.client.LanguageClientImpl
import com.redhat.devtools.lsp4ij.server.StreamConnectionProvider
import org.eclipse.lsp4j.services.LanguageServer

/**
 * Registered in plugin.xml under `com.redhat.devtools.lsp4ij.server` (id "zato") and mapped to the
 * Python language by `com.redhat.devtools.lsp4ij.languageMapping`: LSP4IJ starts `zato lsp` when a
 * Python file is opened, syncs it (didOpen/didChange/didSave) and shows diagnostics, code lenses,
 * hover and `$/progress` by itself. This plug-in only adds what LSP4IJ cannot know about.
 */
class ZatoLanguageServerFactory : LanguageServerFactory {

    override fun createConnectionProvider(project: Project): StreamConnectionProvider =
        ZatoConnectionProvider(project)

    override fun createLanguageClient(project: Project): LanguageClientImpl =
        ZatoLanguageClient(project)

    /** The cluster view's custom requests ride on the server proxy LSP4IJ builds from this interface. */
    override fun getServerInterface(): Class<out LanguageServer> = ZatoLanguageServerApi::class.java
}
