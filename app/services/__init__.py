"""Business rules. Each public function is one transaction: it commits or raises AppError."""
