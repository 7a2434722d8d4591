"""Email channel: IMAP in, SMTP out, parsing, composing, conversations and reply threading."""
