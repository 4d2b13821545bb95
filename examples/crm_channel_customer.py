# -*- coding: utf-8 -*-
# zato: ide-deploy=True

from zato.server.service import Service


class GetCustomer(Service):
    """ Returns a customer by id: served as crm-channel-customer.get-customer.
    """

    class SimpleIO:
        input_required = ('customer_id',)
        output_required = ('customer_id', 'name', 'segment')

    def handle(self):
        customer_id = self.request.input.customer_id
        self.logger.info('Looking up customer %s', customer_id)
        self.response.payload.customer_id = customer_id
        self.response.payload.name = 'Customer {}'.format(customer_id)
        self.response.payload.segment = self.invoke('crm-channel-customer.get-segment', {'customer_id': customer_id})


class GetSegment(Service):
    name = 'crm-channel-customer.get-segment'

    def handle(self):
        customer_id = int(self.request.payload['customer_id'])
        self.response.payload = 'enterprise' if customer_id % 2 else 'smb'
