"""ringdesk: turns call-center webhooks into tickets in a CRM."""

from gateway.app import create_app

__all__ = ["create_app"]
