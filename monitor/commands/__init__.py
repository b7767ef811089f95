"""The administrator's commands (silence, status, explain, actions), one module each.

``monitor.cli`` parses argv and calls ``run(args, config)`` of the module; each returns
the process exit code.
"""
