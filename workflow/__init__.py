"""The domain: scope, processes, the engine, the sweep and the figures. No Flask here."""
