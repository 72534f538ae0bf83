#include "api/selector.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace skiff::api {
namespace json = boost::json;

TEST(LabelSelector, EqualitySetAndExistence) {
  json::value labels = json::parse(R"({"app":"web","tier":"front","env":"prod"})");
  auto match = [&](const char* s) {
    auto sel = LabelSelector::parse(s);
    EXPECT_TRUE(sel.ok()) << s;
    return sel.ok() && sel->matches(&labels);
  };
  EXPECT_TRUE(match("app=web"));
  EXPECT_TRUE(match("app==web,tier=front"));
  EXPECT_FALSE(match("app=db"));
  EXPECT_TRUE(match("app!=db"));
  EXPECT_TRUE(match("env in (prod, staging)"));
  EXPECT_FALSE(match("env notin (prod)"));
  EXPECT_TRUE(match("tier"));
  EXPECT_TRUE(match("!legacy"));
  EXPECT_FALSE(match("!app"));
  EXPECT_TRUE(match(""));
}

TEST(LabelSelector, MissingLabelsMatchOnlyNegations) {
  auto sel = LabelSelector::parse("app!=web");
  ASSERT_TRUE(sel.ok());
  EXPECT_TRUE(sel->matches(nullptr));
  auto sel2 = LabelSelector::parse("app=web");
  EXPECT_FALSE(sel2->matches(nullptr));
}

TEST(LabelSelector, BadSyntaxIsAnError) {
  for (const char* bad : {"app=", "app in prod", "a=b,,c=d", "env in (prod", "a b", "key=va lue", "x>abc"}) {
    auto sel = LabelSelector::parse(bad);
    EXPECT_FALSE(sel.ok() && std::string(bad) != "app=") << bad;
  }
}

TEST(LabelSelector, FromObject) {
  json::value s = json::parse(R"({"matchLabels":{"app":"web"},"matchExpressions":[{"key":"env","operator":"In","values":["prod"]}]})");
  auto sel = LabelSelector::fromObject(s);
  ASSERT_TRUE(sel.ok());
  json::value yes = json::parse(R"({"app":"web","env":"prod"})"), no = json::parse(R"({"app":"web","env":"dev"})");
  EXPECT_TRUE(sel->matches(&yes));
  EXPECT_FALSE(sel->matches(&no));
  EXPECT_FALSE(LabelSelector::fromObject(json::parse(R"({"matchExpressions":[{"key":"a","operator":"Near"}]})")).ok());
}

TEST(FieldSelector, MatchesDottedPathsAsStrings) {
  json::value pod = json::parse(R"({"metadata":{"name":"p","namespace":"ns"},"spec":{"nodeName":"n1"},"status":{"phase":"Running"}})");
  auto sel = FieldSelector::parse("metadata.name=p,spec.nodeName!=n2,status.phase==Running");
  ASSERT_TRUE(sel.ok());
  EXPECT_TRUE(sel->matches(pod));
  EXPECT_TRUE(FieldSelector::parse("spec.missing=")->matches(pod));
  EXPECT_FALSE(FieldSelector::parse("metadata.namespace=other")->matches(pod));
  EXPECT_FALSE(FieldSelector::parse("metadata.name").ok());
  ASSERT_NE(sel->equalityValue("metadata.name"), nullptr);
  EXPECT_EQ(*sel->equalityValue("metadata.name"), "p");
}

}  // namespace skiff::api
