"""DNA encoders: one module per representation, records in, one vector per sequence out."""
