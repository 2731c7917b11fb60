mod disk_faults;
mod faults;
mod invoices;
mod kafka_faults;
mod landing;
mod modules;
