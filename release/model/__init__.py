"""The typed config model: image definitions, template features, channels, targets, trust."""
