"""The ground floor (imports nothing else from dawm): errors, progress, run directories, safe checkpoint I/O,
configs, env specs."""
