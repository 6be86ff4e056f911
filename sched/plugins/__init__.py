"""Scheduling plugins, one module each, after kube-scheduler's (pkg/scheduler/framework/plugins).

Every module has NAME, its reason strings as constants, a plugin class and `new(args, profile)`,
the factory the registry calls with the plugin's pluginConfig args (validated there).
"""
