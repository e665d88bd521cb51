"""Operations: the money logic. Each verb validates, loads (locks), decides, persists and records events."""
