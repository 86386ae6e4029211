"""Imports: the drop zone, the import dialog, the transfer queue (manager, model, dock). The
uploads themselves run in a worker process (`labshelf.app.upload_worker`)."""
