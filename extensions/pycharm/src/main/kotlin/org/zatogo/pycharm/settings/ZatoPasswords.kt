package org.zatogo.pycharm.settings

import com.intellij.credentialStore.CredentialAttributes
import com.intellij.credentialStore.Credentials
import com.intellij.credentialStore.generateServiceName
import com.intellij.ide.passwordSafe.PasswordSafe

/**
 * Target passwords in the IDE's PasswordSafe (OS keychain or KeePass, as the user configured the IDE),
 * keyed by target name and URL. Never written to `.idea/zato.xml`. May block: call off the EDT where possible.
 */
object ZatoPasswords {

    private fun attributes(targetName: String, url: String): CredentialAttributes =
        CredentialAttributes(generateServiceName("Zato", "$targetName@$url"))

    fun get(targetName: String, url: String): String? =
        PasswordSafe.instance.get(attributes(targetName, url))?.getPasswordAsString()

    /** Stores the password, or removes it when [password] is null or empty. */
    fun set(targetName: String, url: String, username: String, password: String?) {
        val credentials = if (password.isNullOrEmpty()) null else Credentials(username, password)
        PasswordSafe.instance.set(attributes(targetName, url), credentials)
    }
}
