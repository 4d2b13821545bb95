import org.jetbrains.intellij.platform.gradle.IntelliJPlatformType

// Zato hot-deploy plug-in for PyCharm Community and Professional 2024.2+.
// Build: `./gradlew buildPlugin` -> build/distributions/*.zip; check: `./gradlew verifyPlugin`.
// JetBrains' repositories must be reachable (they are on GitHub's hosted runners, see
// .github/workflows/pycharm.yml; they are not on this project's own build machines).

plugins {
    id("java")
    id("org.jetbrains.kotlin.jvm") version "1.9.25"
    id("org.jetbrains.intellij.platform") version "2.7.2"
}

group = providers.gradleProperty("pluginGroup").get()
version = providers.gradleProperty("pluginVersion").get()

// The IntelliJ Platform 2024.2 (branch 242) runs on Java 21 and is compiled for it.
kotlin {
    jvmToolchain(21)
}

repositories {
    mavenCentral()
    intellijPlatform {
        defaultRepositories()
    }
}

val platformVersion = providers.gradleProperty("platformVersion").get()
val lsp4ijVersion = providers.gradleProperty("lsp4ijVersion").get()

dependencies {
    intellijPlatform {
        // Compiled against PyCharm Community; Professional bundles the same platform and PythonCore.
        pycharmCommunity(platformVersion)
        // Provides the com.intellij.modules.python module named in plugin.xml.
        bundledPlugin("PythonCore")
        // LSP4IJ from the JetBrains Marketplace.
        plugins("com.redhat.devtools.lsp4ij:$lsp4ijVersion")
        pluginVerifier()
    }
}

intellijPlatform {
    buildSearchableOptions = false

    pluginConfiguration {
        name = providers.gradleProperty("pluginName")
        version = providers.gradleProperty("pluginVersion")
        ideaVersion {
            sinceBuild = providers.gradleProperty("pluginSinceBuild")
            untilBuild = provider { null }
        }
    }

    pluginVerification {
        ides {
            ide(IntelliJPlatformType.PyCharmCommunity, platformVersion)
            ide(IntelliJPlatformType.PyCharmProfessional, platformVersion)
        }
    }
}
