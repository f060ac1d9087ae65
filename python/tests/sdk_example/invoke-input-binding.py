# Copied by bindery from dapr/python-sdk, commit e4ad1818079c5089814e4d1610b585286d28b98f,
# file examples/invoke-binding/invoke-input-binding.py, under the Apache License 2.0.
# Changed: the import line marked "bindery:".
from bindery.dapr.ext.grpc import App, BindingRequest  # bindery: was `from dapr.ext.grpc import ...`

app = App()


@app.binding('kafkaBinding')
def binding(request: BindingRequest):
    print(request.text(), flush=True)


app.run(13551)
