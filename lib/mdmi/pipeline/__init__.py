"""Running the workflow: config, resources, manifest, notebooks, checkpoint adoption, shipped models, README block."""
