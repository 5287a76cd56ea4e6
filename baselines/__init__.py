"""What a submission changes: recipe steps, their registry and recipes."""
