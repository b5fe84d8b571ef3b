"""Git repository access shared by rendering and provenance: open or clone, resolve refs, extract trees."""
