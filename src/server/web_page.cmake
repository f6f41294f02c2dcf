# Embeds the top-level web/index.html in the server as web_page_html() (server/web_render.h):
# the page is read at configure time, and editing it re-runs CMake.
set(web_page_html "${PROJECT_SOURCE_DIR}/web/index.html")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${web_page_html}")
file(READ "${web_page_html}" LIPSYNC_WEB_PAGE)
if(LIPSYNC_WEB_PAGE MATCHES "\\)lipsync_page\"")
  message(FATAL_ERROR "${web_page_html} contains the raw string's delimiter )lipsync_page\"")
endif()
set(LIPSYNC_WEB_PAGE_SOURCE "${CMAKE_CURRENT_BINARY_DIR}/generated/web_page.cpp")
configure_file("${CMAKE_CURRENT_SOURCE_DIR}/web_page.cpp.in" "${LIPSYNC_WEB_PAGE_SOURCE}" @ONLY)
