mod invoices;
mod landing;
mod modules;
