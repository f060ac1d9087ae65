# Copied by bindery from dapr/docs, commit 0748da594aae03529034fd4aa1d10d96199df0c1,
# the Python sample of daprdocs/content/en/developing-applications/building-blocks/bindings/howto-triggers.md, under CC BY 4.0 (the dapr/docs licence).
# Changed: the import lines marked "bindery:".
#dependencies
import logging
from bindery.dapr.ext.grpc import App, BindingRequest  # bindery: was `from dapr.ext.grpc import ...`

#code
app = App()

@app.binding('checkout')
def getCheckout(request: BindingRequest):
    logging.basicConfig(level = logging.INFO)
    logging.info('Received Message : ' + request.text())

app.run(6002)

