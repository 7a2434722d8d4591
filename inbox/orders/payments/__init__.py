"""Payments of orders through providers (YooKassa, Telegram Payments): accounts, payment links, provider
notifications checked against the provider's API, refunds, and the payment history of an order."""
