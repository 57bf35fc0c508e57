"""The online endpoint: POST /predict and POST /feedback through API Gateway."""
