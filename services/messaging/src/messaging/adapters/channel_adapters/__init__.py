"""Channel adapters: each implements ``messaging.app.ports.ChannelAdapter`` for one kind
of channel (webhook.py: any channel reached through the tenant's own endpoint;
smtp.py: e-mail). A marketplace adapter is one more module here and one entry in
``bootstrap.channel_adapters``."""
