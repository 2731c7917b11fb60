mod invoices;
