"""``ApplicationError.type`` values: business failures the saga matches on (never retried)."""

OUT_OF_STOCK = "OutOfStock"
PAYMENT_DECLINED = "PaymentDeclined"
UNKNOWN_PRODUCT = "UnknownProduct"
CANCEL_REFUSED = "CancelRefused"
