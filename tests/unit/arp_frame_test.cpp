// The ARP frames of the vip class and its checker (resources/arp_frame.hpp), byte for byte
// against RFC 826's layout and RFC 5227's two kinds: what a neighbour's kernel reads.
#include "resources/arp_frame.hpp"

#include <gtest/gtest.h>

#include <cerrno>

namespace hactl {
namespace {

constexpr MacAddress kMac{0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
constexpr Ipv4Bytes kVip{10, 213, 0, 100};

TEST(ArpFrame, GratuitousAnnouncesTheAddressAsItsOwnSenderAndTarget) {
  const ArpFrame expected{0x00, 0x01, 0x08, 0x00,              // Ethernet, IPv4
                          6,    4,                             // address lengths
                          0x00, 0x01,                          // request
                          0x02, 0x11, 0x22, 0x33, 0x44, 0x55,  // sender MAC: the holder's
                          10,   213,  0,    100,               // sender address: the vip
                          0,    0,    0,    0,    0,    0,     // target MAC: unknown
                          10,   213,  0,    100};              // target address: the vip again
  EXPECT_EQ(gratuitous_arp(kMac, kVip), expected);
}

TEST(ArpFrame, ProbeAsksForTheAddressFromNoAddress) {
  const ArpFrame expected{0x00, 0x01, 0x08, 0x00,              // Ethernet, IPv4
                          6,    4,                             // address lengths
                          0x00, 0x01,                          // request
                          0x02, 0x11, 0x22, 0x33, 0x44, 0x55,  // sender MAC: the checker's
                          0,    0,    0,    0,                 // sender 0.0.0.0: nobody learns
                          0,    0,    0,    0,    0,    0,     // target MAC: unknown
                          10,   213,  0,    100};              // target address: the vip
  EXPECT_EQ(arp_probe(kMac, kVip), expected);
}

TEST(ArpFrame, TheIpv4AddressIsTheFirstFourBytesOfTheBuffer) {
  std::array<std::uint8_t, 16> buffer{};
  buffer[0] = 192;
  buffer[1] = 0;
  buffer[2] = 2;
  buffer[3] = 7;
  buffer[4] = 99;  // past the IPv4 address: never read
  EXPECT_EQ(ipv4_bytes(buffer), (Ipv4Bytes{192, 0, 2, 7}));
}

TEST(ArpFrame, ASendThatFailsSaysWhy) {
  EXPECT_EQ(send_arp_broadcast(-1, 1, arp_probe(kMac, kVip)), EBADF);
}

}  // namespace
}  // namespace hactl
