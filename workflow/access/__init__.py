"""Who may see what (scope), who may do what (permissions), accounts and API tokens."""
