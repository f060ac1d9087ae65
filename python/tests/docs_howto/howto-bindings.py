# Copied by bindery from dapr/docs, commit 0748da594aae03529034fd4aa1d10d96199df0c1,
# the Python sample of daprdocs/content/en/developing-applications/building-blocks/bindings/howto-bindings.md, under CC BY 4.0 (the dapr/docs licence).
# Changed: the import lines marked "bindery:".
#dependencies
import random
from time import sleep    
# import requests  # bindery: unused by the sample, and not installed in the test's virtualenv
import logging
import json
from bindery.dapr.clients import DaprClient  # bindery: was `from dapr.clients import DaprClient`

#code
logging.basicConfig(level = logging.INFO)
BINDING_NAME = 'checkout'
BINDING_OPERATION = 'create' 
while True:
    sleep(random.randrange(50, 5000) / 1000)
    orderId = random.randint(1, 1000)
    with DaprClient() as client:
        #Using Dapr SDK to invoke output binding
        resp = client.invoke_binding(BINDING_NAME, BINDING_OPERATION, json.dumps(orderId))
    logging.basicConfig(level = logging.INFO)
    logging.info('Sending message: ' + str(orderId))
    
