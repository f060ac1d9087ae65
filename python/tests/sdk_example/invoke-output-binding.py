# Copied by bindery from dapr/python-sdk, commit e4ad1818079c5089814e4d1610b585286d28b98f,
# file examples/invoke-binding/invoke-output-binding.py, under the Apache License 2.0.
# Changed: the import line marked "bindery:".
import json
import time

from bindery.dapr.clients import DaprClient  # bindery: was `from dapr.clients import DaprClient`

with DaprClient() as d:
    n = 0
    while True:
        n += 1
        req_data = {'id': n, 'message': 'hello world'}

        print(f'Sending message id: {req_data["id"]}, message "{req_data["message"]}"', flush=True)

        # Create a typed message with content type and body
        resp = d.invoke_binding('kafkaBinding', 'create', json.dumps(req_data))

        time.sleep(1)
