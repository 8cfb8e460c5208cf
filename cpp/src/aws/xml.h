// The XML helpers moved to common/xml.h (Azure Storage reads its error replies with them too); kept so that
// the AWS code's includes stay as they are.
#pragma once

#include "common/xml.h"
