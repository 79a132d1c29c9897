"""Persistence: the metadata store (SQL) and the artifact stores (files)."""

from kyanite.store.artifacts import ArtifactStore, LocalArtifactStore
from kyanite.store.database import Store

__all__ = ["Store", "ArtifactStore", "LocalArtifactStore"]
