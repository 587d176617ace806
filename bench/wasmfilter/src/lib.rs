//! The cheapest useful proxy-wasm filter, written against the raw ABI 0.2.1 (no SDK, no_std):
//! per request it reads `:path` and adds `x-wasm-path: <path>` to the request (what the upstream
//! sees), and `x-wasm-resp: 1` to the response. The counterpart of Portcullis' `headers` plugin
//! with `request.set x-path = "${path}"` and `response.set x-gateway = "portcullis"`.
//!
//! Target (g) of `bench/run`, which builds it (see README.md): the linker flag makes a core
//! module, which is what Envoy loads, from the wasm32-wasip2 toolchain:
//!   RUSTFLAGS="-C link-arg=--skip-wit-component" cargo build --release --target wasm32-wasip2
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

const MAP_REQUEST_HEADERS: u32 = 0;
const MAP_RESPONSE_HEADERS: u32 = 2;
const ACTION_CONTINUE: u32 = 0;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_header_map_value(
        map: u32,
        key: *const u8,
        key_len: usize,
        out: *mut *mut u8,
        out_len: *mut usize,
    ) -> u32;
    fn proxy_add_header_map_value(
        map: u32,
        key: *const u8,
        key_len: usize,
        val: *const u8,
        val_len: usize,
    ) -> u32;
}

// The host asks the guest for memory to write a returned value into. A value is consumed before
// the next host call, so one scratch buffer serves every request (single-threaded VM).
const SCRATCH_LEN: usize = 65536;
static mut SCRATCH: [u8; SCRATCH_LEN] = [0; SCRATCH_LEN];

#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    if size > SCRATCH_LEN {
        return core::ptr::null_mut();
    }
    // Taking the address of a `static mut` reads nothing; the host writes there before it reads.
    core::ptr::addr_of_mut!(SCRATCH) as *mut u8
}

#[no_mangle]
pub extern "C" fn malloc(size: usize) -> *mut u8 {
    proxy_on_memory_allocate(size)
}

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(_context_id: u32, _parent_context_id: u32) {}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_root_context_id: u32, _config_size: usize) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(_root_context_id: u32, _config_size: usize) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(
    _context_id: u32,
    _num_headers: usize,
    _end_of_stream: u32,
) -> u32 {
    let key = b":path";
    let mut ptr: *mut u8 = core::ptr::null_mut();
    let mut len: usize = 0;
    // SAFETY: the host reads `key` (a static) and writes the value's address and length into
    // `ptr`/`len`, locals that outlive the call; the value lives in SCRATCH until the next host
    // call, which is the add below, and it reads it before writing anything.
    unsafe {
        if proxy_get_header_map_value(
            MAP_REQUEST_HEADERS,
            key.as_ptr(),
            key.len(),
            &mut ptr,
            &mut len,
        ) == 0
            && !ptr.is_null()
        {
            let name = b"x-wasm-path";
            proxy_add_header_map_value(MAP_REQUEST_HEADERS, name.as_ptr(), name.len(), ptr, len);
        }
    }
    ACTION_CONTINUE
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(
    _context_id: u32,
    _num_headers: usize,
    _end_of_stream: u32,
) -> u32 {
    let name = b"x-wasm-resp";
    let value = b"1";
    // SAFETY: the host only reads the two static byte strings during the call.
    unsafe {
        proxy_add_header_map_value(
            MAP_RESPONSE_HEADERS,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        );
    }
    ACTION_CONTINUE
}

#[no_mangle]
pub extern "C" fn proxy_on_done(_context_id: u32) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_log(_context_id: u32) {}

#[no_mangle]
pub extern "C" fn proxy_on_delete(_context_id: u32) {}
