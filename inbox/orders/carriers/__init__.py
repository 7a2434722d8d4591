"""Carriers: accounts (СДЭК, Почта России, Boxberry), shipments and their tracking events, the editable map of
carrier statuses to the shop's statuses and the customer's steps."""
