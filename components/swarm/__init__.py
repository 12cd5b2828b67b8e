"""The stack on Docker Swarm (`platform: swarm`): services with rolling updates instead of containers."""
