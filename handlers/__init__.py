"""The conversation: dialogs and staff actions over a neutral vocabulary (no messenger here)."""
