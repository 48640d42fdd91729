"""Builders shared by several test folders: tiny CLIP models and generation plugins (`generation`), datasets in the
released formats (`datasets`)."""
