"""Notification channels and what they say: settings, texts (en, tr), the calendar entry, FCM push, Twilio
SMS, the Auth contact lookup, the task queue, and ``channels.channels_for`` (the senders a deployment has)."""
