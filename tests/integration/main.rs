mod faults;
mod invoices;
mod landing;
mod modules;
