# -*- coding: utf-8 -*-
# zato: ide-deploy=True

from zato.server.service import Service


class ListOverdueInvoices(Service):
    """ Served as billing-invoice.list-overdue-invoices (Zato's derived name).
    """

    class SimpleIO:
        input_optional = ('min_days',)

    def handle(self):
        min_days = int(self.request.input.min_days or 30)
        invoices = [
            {'id': 'INV-1001', 'days_overdue': 45},
            {'id': 'INV-1002', 'days_overdue': 12},
        ]
        self.response.payload = [inv for inv in invoices if inv['days_overdue'] >= min_days]
