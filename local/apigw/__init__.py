"""API Gateway's HTTP API without a server: the event a request becomes, the HTTP a function's answer becomes."""
