"""SMS channel: provider adapters (SMS.ru, Twilio), segment counting, sending and delivery receipts."""
