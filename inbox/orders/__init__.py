"""Commerce: catalog, stock, reservations, orders, status machine, tracking, notifications, import."""
