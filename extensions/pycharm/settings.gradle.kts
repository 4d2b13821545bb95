// Zato hot-deploy plug-in for PyCharm. Built with the IntelliJ Platform Gradle Plugin 2.x (see build.gradle.kts).
rootProject.name = "zato-pycharm"
