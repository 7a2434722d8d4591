"""VK channel: community messages through the Callback/Long Poll API (vkbottle), parsing, sending."""
