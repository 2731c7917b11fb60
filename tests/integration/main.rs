mod broker_restarts;
mod disk_faults;
mod edge_cases;
mod faults;
mod invoices;
mod kafka_faults;
mod landing;
mod modules;
