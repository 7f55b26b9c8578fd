"""Protocol adapters: each maps one platform's routes and body formats onto the single predict path."""
